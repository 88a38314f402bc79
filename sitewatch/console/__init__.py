"""SiteWatch alert console (FastAPI). Built in the console issue; nothing here yet."""
