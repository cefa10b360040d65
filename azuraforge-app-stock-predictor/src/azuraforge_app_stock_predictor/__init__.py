"""AzuraForge app: forecasts a ticker's close with an LSTM."""
