// Package merkle computes the Merkle tree of a file's content, so that a
// holder can prove it keeps a copy by showing one leaf and its path to the
// root that the confirming peers signed.
//
// The tree is RFC 9162's (Certificate Transparency v2): leaves are hashed as
// SHA-256(0x00 || leaf) and inner nodes as SHA-256(0x01 || left || right),
// so no leaf can pass for an inner node, and a tree of n leaves splits at the
// largest power of two below n, so every size has exactly one shape. Leaves
// are LeafSize bytes of content, the last one shorter.
//
// Why 16 KiB leaves: an audit moves one leaf and log2(leaves) hashes, so a
// leaf must be small for audits to be cheap (a 1 GiB copy answers with 16 KiB
// and 16 hashes); it must be large enough that hashing is not dominated by
// per-leaf overhead while the root is computed at upload (at 16 KiB the
// streaming root runs at about 0.8 times plain SHA-256's speed).
package merkle

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
)

var _ hash.Hash = (*Builder)(nil)

// LeafSize is the size of every leaf but the last.
const LeafSize = 16 << 10

// Hash is a node of the tree.
type Hash [32]byte

// EmptyRoot is the root of an empty file: SHA-256 of nothing (RFC 9162).
var EmptyRoot = Hash(sha256.Sum256(nil))

// Leaves is the number of leaves of content of size bytes.
func Leaves(size int64) int64 {
	return (size + LeafSize - 1) / LeafSize
}

// LeafHash hashes one leaf.
func LeafHash(leaf []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(left, right Hash) Hash {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// Builder computes the root of content written to it, in one pass and with
// memory that grows only with log2 of the size.
type Builder struct {
	leaf   []byte
	stack  []subtree // complete subtrees, largest first
	leaves int64
}

type subtree struct {
	h    Hash
	size int64 // leaves
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{leaf: make([]byte, 0, LeafSize)} }

// Write adds content.
func (b *Builder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(b.leaf) == 0 && len(p) >= LeafSize {
			// A whole leaf in p: hashed where it is, not copied first.
			b.push(LeafHash(p[:LeafSize]))
			p = p[LeafSize:]
			continue
		}
		k := min(LeafSize-len(b.leaf), len(p))
		b.leaf = append(b.leaf, p[:k]...)
		p = p[k:]
		if len(b.leaf) == LeafSize {
			b.push(LeafHash(b.leaf))
			b.leaf = b.leaf[:0]
		}
	}
	return n, nil
}

func (b *Builder) push(h Hash) {
	b.leaves++
	t := subtree{h, 1}
	for len(b.stack) > 0 && b.stack[len(b.stack)-1].size == t.size {
		top := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		t = subtree{nodeHash(top.h, t.h), top.size * 2}
	}
	b.stack = append(b.stack, t)
}

// Sum appends the root to b, so that a Builder is a hash.Hash and can be
// computed alongside the content's SHA-256 while it is stored.
func (b *Builder) Sum(in []byte) []byte {
	r := b.Root()
	return append(in, r[:]...)
}

// Reset empties the builder.
func (b *Builder) Reset() { *b = Builder{leaf: b.leaf[:0]} }

// Size is the size of a root.
func (b *Builder) Size() int { return len(Hash{}) }

// BlockSize is the leaf size.
func (b *Builder) BlockSize() int { return LeafSize }

// Root returns the root of what was written (the builder stays usable).
func (b *Builder) Root() Hash {
	stack := b.stack
	if len(b.leaf) > 0 {
		stack = append(append([]subtree(nil), stack...), subtree{LeafHash(b.leaf), 1})
	}
	if len(stack) == 0 {
		return EmptyRoot
	}
	// The complete subtrees, largest first, are RFC 9162's splits: fold them
	// from the right.
	acc := stack[len(stack)-1].h
	for i := len(stack) - 2; i >= 0; i-- {
		acc = nodeHash(stack[i].h, acc)
	}
	return acc
}

// Root computes the root of everything r yields.
func Root(r io.Reader) (Hash, error) {
	b := NewBuilder()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(b, r, buf); err != nil {
		return Hash{}, err
	}
	return b.Root(), nil
}

// Proof is a leaf of content and its audit path to the root.
type Proof struct {
	Index int64  // which leaf
	Leaf  []byte // its bytes
	Path  []Hash // siblings from the leaf up
}

// Prove reads content of size bytes from r and returns leaf index with its
// path. It reads the whole content once (the path needs every other leaf's
// hash), so a holder cannot answer from the leaf alone.
func Prove(r io.ReaderAt, size, index int64) (Proof, error) {
	n := Leaves(size)
	if index < 0 || index >= n {
		return Proof{}, fmt.Errorf("merkle: leaf %d of %d", index, n)
	}
	p := &prover{r: r, size: size, buf: make([]byte, LeafSize)}
	var path []Hash
	lo, hi, m := int64(0), n, index
	// Walk down the splits, collecting the roots of the halves not taken;
	// they are the path from the top, so reverse at the end.
	for hi-lo > 1 {
		k := split(hi - lo)
		if m < k {
			h, err := p.mth(lo+k, hi)
			if err != nil {
				return Proof{}, err
			}
			path = append(path, h)
			hi = lo + k
		} else {
			h, err := p.mth(lo, lo+k)
			if err != nil {
				return Proof{}, err
			}
			path = append(path, h)
			lo, m = lo+k, m-k
		}
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	leaf, err := p.leaf(index)
	if err != nil {
		return Proof{}, err
	}
	return Proof{Index: index, Leaf: append([]byte(nil), leaf...), Path: path}, nil
}

// split is the largest power of two smaller than n (n > 1).
func split(n int64) int64 {
	return int64(1) << (bits.Len64(uint64(n-1)) - 1)
}

type prover struct {
	r    io.ReaderAt
	size int64
	buf  []byte
}

func (p *prover) leaf(i int64) ([]byte, error) {
	off := i * LeafSize
	n := min(int64(LeafSize), p.size-off)
	k, err := p.r.ReadAt(p.buf[:n], off)
	if int64(k) == n {
		return p.buf[:n], nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("merkle: read leaf %d: %w", i, err)
}

// mth is the root of leaves [lo, hi).
func (p *prover) mth(lo, hi int64) (Hash, error) {
	if hi-lo == 1 {
		leaf, err := p.leaf(lo)
		if err != nil {
			return Hash{}, err
		}
		return LeafHash(leaf), nil
	}
	k := split(hi - lo)
	l, err := p.mth(lo, lo+k)
	if err != nil {
		return Hash{}, err
	}
	r, err := p.mth(lo+k, hi)
	if err != nil {
		return Hash{}, err
	}
	return nodeHash(l, r), nil
}

// Verify checks a proof against the root of content of size bytes (RFC
// 9162, 2.1.3.2). It also checks that the leaf has the size its index
// implies, so a short leaf cannot stand for a full one.
func Verify(root Hash, size int64, p Proof) error {
	n := Leaves(size)
	if p.Index < 0 || p.Index >= n {
		return fmt.Errorf("merkle: leaf %d of a %d-leaf tree", p.Index, n)
	}
	if want := min(int64(LeafSize), size-p.Index*LeafSize); int64(len(p.Leaf)) != want {
		return fmt.Errorf("merkle: leaf %d has %d bytes, want %d", p.Index, len(p.Leaf), want)
	}
	fn, sn := uint64(p.Index), uint64(n-1)
	r := LeafHash(p.Leaf)
	for _, h := range p.Path {
		if sn == 0 {
			return errors.New("merkle: path too long")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(h, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, h)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("merkle: path too short")
	}
	if r != root {
		return errors.New("merkle: the leaf and path do not lead to the root")
	}
	return nil
}
