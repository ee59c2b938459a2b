"""OCR engines behind one interface. A plain Python package: it imports nothing from the Django apps."""
