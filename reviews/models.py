"""Predictions and the humans who check them (issue 4): Prediction, ReviewCampaign, Review."""
