package globaldata

import "testing"

// BenchmarkSetGet is the server's work per request, without the network:
// a SET and a GET of a 64-byte string, as gdbench sends them.
func BenchmarkSetGet(b *testing.B) {
	s := newStore()
	val := `s:64:"0000000000000000000000000000000000000000000000000000000000000042";`
	set := []byte(`a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:7:"bench:1";s:5:"value";` + val + `}`)
	get := []byte(`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:7:"bench:1";}`)
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range [][]byte{set, get} {
			r, err := decodeRequest(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Do(r); err != nil {
				b.Fatal(err)
			}
		}
	}
}
