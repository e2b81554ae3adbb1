"""The engine: carries out plans through the ports (engine/ports.py), never through an SDK."""
