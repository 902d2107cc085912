"""Factory acceptance: the hil_tests/fat run and its reports (run.py) and the certificate's plots
(plots.py)."""
