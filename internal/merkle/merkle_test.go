package merkle

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// mthSpec is RFC 9162's definition, written as the RFC reads.
func mthSpec(leaves [][]byte) Hash {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		l, r := mthSpec(leaves[:k]), mthSpec(leaves[k:])
		return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
	}
}

func content(size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func leavesOf(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		k := min(LeafSize, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

func TestRootMatchesRFC9162(t *testing.T) {
	sizes := []int{0, 1, LeafSize - 1, LeafSize, LeafSize + 1, 2 * LeafSize, 3*LeafSize + 5, 4 * LeafSize, 5 * LeafSize, 7*LeafSize + 1, 8 * LeafSize, 13*LeafSize - 3}
	for _, size := range sizes {
		data := content(size)
		want := mthSpec(leavesOf(data))
		b := NewBuilder()
		// Odd write sizes, small and larger than a leaf, so leaves straddle
		// writes and whole leaves come both aligned and not.
		for i, rest := 0, data; len(rest) > 0; i++ {
			k := min(len(rest), 1+len(rest)%7777+i%2*2*LeafSize)
			b.Write(rest[:k])
			rest = rest[k:]
		}
		if got := b.Root(); got != want {
			t.Fatalf("size %d: root %x, want %x", size, got, want)
		}
		if got, _ := Root(bytes.NewReader(data)); got != want {
			t.Fatalf("size %d: Root differs", size)
		}
	}
}

func TestEveryLeafProves(t *testing.T) {
	for _, leaves := range []int{1, 2, 3, 5, 6, 7, 8, 9, 17} {
		size := leaves*LeafSize - leaves // last leaf short
		data := content(size)
		root, _ := Root(bytes.NewReader(data))
		for i := int64(0); i < Leaves(int64(size)); i++ {
			p, err := Prove(bytes.NewReader(data), int64(size), i)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(root, int64(size), p); err != nil {
				t.Fatalf("%d leaves, leaf %d: %v", leaves, i, err)
			}
			// Any change is caught.
			bad := p
			bad.Leaf = append([]byte(nil), p.Leaf...)
			bad.Leaf[len(bad.Leaf)/2] ^= 1
			if Verify(root, int64(size), bad) == nil {
				t.Fatalf("flipped leaf byte verifies")
			}
			if len(p.Path) > 0 {
				bad = p
				bad.Path = append([]Hash(nil), p.Path...)
				bad.Path[0][0] ^= 1
				if Verify(root, int64(size), bad) == nil {
					t.Fatalf("flipped path verifies")
				}
				bad.Path = p.Path[1:]
				if Verify(root, int64(size), bad) == nil {
					t.Fatalf("short path verifies")
				}
			}
			bad = p
			bad.Index = (p.Index + 1) % Leaves(int64(size))
			if bad.Index != p.Index && Verify(root, int64(size), bad) == nil {
				t.Fatalf("leaf %d verifies as leaf %d", p.Index, bad.Index)
			}
		}
	}
}

func TestProveRefusesOutOfRange(t *testing.T) {
	data := content(3 * LeafSize)
	for _, i := range []int64{-1, 3, 100} {
		if _, err := Prove(bytes.NewReader(data), int64(len(data)), i); err == nil {
			t.Fatalf("leaf %d proved", i)
		}
	}
	// A copy shorter than its record cannot prove its last leaf.
	if _, err := Prove(bytes.NewReader(data[:2*LeafSize]), int64(len(data)), 2); err == nil {
		t.Fatal("a truncated copy proved its missing leaf")
	}
}

func FuzzVerify(f *testing.F) {
	data := content(5*LeafSize + 9)
	root, _ := Root(bytes.NewReader(data))
	p, _ := Prove(bytes.NewReader(data), int64(len(data)), 3)
	var path []byte
	for _, h := range p.Path {
		path = append(path, h[:]...)
	}
	f.Add(int64(3), int64(len(data)), p.Leaf, path)
	f.Add(int64(0), int64(0), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, index, size int64, leaf, rawPath []byte) {
		var hs []Hash
		for len(rawPath) >= 32 {
			var h Hash
			copy(h[:], rawPath)
			hs = append(hs, h)
			rawPath = rawPath[32:]
		}
		if size < 0 || size > 1<<40 {
			return
		}
		err := Verify(root, size, Proof{Index: index, Leaf: leaf, Path: hs})
		// Whatever size is claimed, a proof that verifies shows the genuine
		// leaf at its index. (A path alone does not fix the number of leaves:
		// a 6-leaf tree's path to leaf 3 reads as a 5-leaf tree's, so
		// auditors verify against the size signed with the root.)
		if err == nil && (index >= Leaves(int64(len(data))) || !bytes.Equal(leaf, data[index*LeafSize:min(int64(len(data)), (index+1)*LeafSize)])) {
			t.Fatalf("a wrong proof verifies: leaf %d size %d", index, size)
		}
	})
}

func BenchmarkRoot(b *testing.B) {
	data := content(16 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Root(bytes.NewReader(data))
	}
}

func BenchmarkSHA256(b *testing.B) {
	data := content(16 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
	}
}
