"""One APIRouter per area of the workbench; each serves its pages and its ``/api`` endpoints
from the same query functions (:mod:`callqa.serve.queries`)."""
