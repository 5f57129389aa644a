package filemonitor

// On any other system the build stops in linuxonly, with its reason,
// instead of here with undefined Linux names.
import _ "github.com/workermand/workermand/internal/linuxonly"
