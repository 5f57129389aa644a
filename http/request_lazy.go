package http

// requestLazy holds what a Request computes on demand.
type requestLazy struct {
}

func (l *requestLazy) release() {}
