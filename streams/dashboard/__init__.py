"""The read-only dashboard (``interests dashboard``) and the trail series it shares with
``interests user ID --plot``."""
