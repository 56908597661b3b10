"""The caregivers' status page and JSON API (Flask): app factory and blueprints."""
