package config

// MetricsKeys are the keys of [metrics].
func MetricsKeys() []string { return metricsKeys }
