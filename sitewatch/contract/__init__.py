"""The message contract between edge and console: versioned pydantic models."""
