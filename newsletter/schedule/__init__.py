"""What the schedule means: when each issue is due, and whether a day's issue is ready to go."""
