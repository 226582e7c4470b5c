"""Model suites: specs (Pythia, PolyPythias, local folders), checkpoint loading, and the locally trained demo suite."""
