package config

// SetSystemFiles moves the /proc files CheckSystem reads and fakes
// RLIMIT_NOFILE.
func SetSystemFiles(somaxconn, portRange, nrOpen, migrate string, soft, hard uint64) (restore func()) {
	a, b, c, d, e := procSomaxconn, procLocalPortRange, procNrOpen, procTCPMigrateReq, getrlimitNoFile
	procSomaxconn, procLocalPortRange, procNrOpen, procTCPMigrateReq = somaxconn, portRange, nrOpen, migrate
	getrlimitNoFile = func() (uint64, uint64, error) { return soft, hard, nil }
	return func() {
		procSomaxconn, procLocalPortRange, procNrOpen, procTCPMigrateReq, getrlimitNoFile = a, b, c, d, e
	}
}
