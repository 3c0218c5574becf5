"""Everything that shows. Owns no mathematics: every number comes from backend/."""
