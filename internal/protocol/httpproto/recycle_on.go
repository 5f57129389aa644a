//go:build !race && !wmdebug

package httpproto

// recycleBodies: large body buffers go back to their pool once answered.
const recycleBodies = true
