"""Trainer drills (练习): a trainee answers a scripted customer in the browser and the call they
make is scored by the normal pipeline.

- :mod:`callqa.drill.scenario`: a scenario from a scored stereo call (customer turns, brief,
  model answer);
- :mod:`callqa.drill.store`: scenarios, assignments and attempts in ``callqa.db``;
- :mod:`callqa.drill.attempt`: an attempt's two legs assembled and scored;
- :mod:`callqa.drill.progress`: attempts, scores over time, the cohort and its export.

The pages and API are :mod:`callqa.serve.routers.drills`.
"""

from callqa.drill.scenario import DrillError, Scenario, Turn, scenario_from_call
from callqa.drill.store import Attempt, DrillStore, Play

__all__ = ["Attempt", "DrillError", "DrillStore", "Play", "Scenario", "Turn",
           "scenario_from_call"]
