"""Task modules imported both by tests and by the worker and scheduler subprocesses they start."""
