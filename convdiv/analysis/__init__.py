"""Analyses that need Python statistics on top of the SQL views: phases, CE fits, regression."""
