"""Root pytest configuration: every test and every notebook kernel runs in the smoke profile."""

import os

os.environ["SMOKE_TEST"] = "1"
os.environ.pop("COURSE_PROFILE", None)
os.environ.setdefault("MPLBACKEND", "Agg")
