package workerman

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Handler is a named, configurable set of worker callbacks: the config picks
// one with handler = "name" and configures it with the worker's
// [worker.options] table. A handler's options are the exported fields of its
// own type, decoded strictly (an unknown option is an error).
type Handler interface {
	// Attach sets w's callbacks. It runs in every process of the worker,
	// before OnWorkerStart.
	Attach(w *Worker) error
}

// Validator is implemented by handlers that check their options; it runs
// after decoding, without starting anything, so `check` can report errors.
type Validator interface {
	Validate() error
}

var (
	handlersMu sync.RWMutex
	handlers   = map[string]func() Handler{}
)

// RegisterHandler makes a handler available by name. newHandler returns a
// fresh value carrying the defaults of its options. Call it from init; it
// panics on an empty or duplicate name, since both are programming errors.
func RegisterHandler(name string, newHandler func() Handler) {
	if name == "" || newHandler == nil {
		panic("workerman: RegisterHandler needs a name and a constructor")
	}
	handlersMu.Lock()
	defer handlersMu.Unlock()
	if _, dup := handlers[name]; dup {
		panic(fmt.Sprintf("workerman: handler %q registered twice", name))
	}
	handlers[name] = newHandler
}

// HandlerNames lists the registered handlers in order.
func HandlerNames() []string {
	handlersMu.RLock()
	defer handlersMu.RUnlock()
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrUnknownHandler reports a handler name nobody registered.
var ErrUnknownHandler = errors.New("unknown handler")

// NewHandler builds the named handler: decode (when not nil) fills its
// options, then Validate runs if the handler has it.
func NewHandler(name string, decode func(options any) error) (Handler, error) {
	handlersMu.RLock()
	newHandler, ok := handlers[name]
	handlersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknownHandler, name, strings.Join(HandlerNames(), ", "))
	}
	h := newHandler()
	if decode != nil {
		if err := decode(h); err != nil {
			return nil, fmt.Errorf("handler %q options: %w", name, err)
		}
	}
	if v, ok := h.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("handler %q options: %w", name, err)
		}
	}
	return h, nil
}
