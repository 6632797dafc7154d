"""The HTTP API: FastAPI, pydantic models at the edge, one router per resource."""
