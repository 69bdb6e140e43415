"""Optional retrieval backends that keep the project's indexes in an external engine (see ``qdrant``)."""
