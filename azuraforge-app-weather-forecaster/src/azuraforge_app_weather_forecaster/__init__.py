"""AzuraForge app: hourly temperature forecasting with an LSTM or GRU."""
