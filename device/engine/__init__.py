"""The pure dose engine: plan, windows, dose states, detections, stock and alerts.

Nothing here reads the clock, touches hardware, the network or the database: time is passed in,
and persistence goes through the store object handed to the engine.
"""
