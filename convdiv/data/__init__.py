"""Data bundled with convdiv (see PROVENANCE.md): Jane Austen's six novels for the demo suite."""
