"""Surveys, raters, items and answers."""
