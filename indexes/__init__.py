"""Where papers rest: the storage code of paperrag.

The catalog (papers, chunks, runs, decisions), the vector store (Chroma), the keyword / dense / sentence indexes,
the artifact cache and the LLM call log. `ingest/` writes only through here; `rag/` reads from here. Nothing in
this package imports `rag/` or `ui/`. The data itself lives in the data home (`Settings.home`), never here.
"""
