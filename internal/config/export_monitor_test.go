package config

// MonitorKeys are the keys of [monitor].
func MonitorKeys() []string { return monitorKeys }
