"""Admin for surveys, answers and report downloads."""
