"""The parts of deepread/settings.py, one module per concern; settings.py composes them."""
