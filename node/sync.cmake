# Set reconciliation (filled in by the mesh issue).
