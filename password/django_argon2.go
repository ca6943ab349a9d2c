package password

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/blake2b"

	"github.com/latchkeyhq/latchkey"
)

// Argon2 variants, numbered as in the Argon2 specification (RFC 9106's y).
const (
	argon2d  = 0
	argon2i  = 1
	argon2id = 2
)

// Argon2 versions: 1.0 (the reference code before 2016) and 1.3.
const (
	argon2v10 = 0x10
	argon2v13 = 0x13
)

// djangoArgon2 is argon2$argon2<variant>[$v=<version>]$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>.
type djangoArgon2 struct {
	variant, version uint32
	params           Argon2id // its SaltLen and KeyLen are those of salt and key
	salt, key        []byte
}

// parseDjangoArgon2 parses Django's Argon2 hashes as parsePHC parses
// Argon2id PHC strings, and holds them to the same caps, but admits the
// other variants and version 1.0, which Django verified through
// argon2-cffi: "v=16", and a missing version field, which Django and the
// reference code read as 1.0.
func parseDjangoArgon2(encoded string) (*djangoArgon2, error) {
	f := strings.SplitN(encoded, "$", 8)
	if len(f) == 5 {
		// No version field: insert the one it stands for.
		f = []string{f[0], f[1], "v=16", f[2], f[3], f[4]}
	}
	if len(f) != 6 {
		return nil, malformed("argon2: want 5 or 6 fields")
	}
	h := &djangoArgon2{}
	switch f[1] {
	case "argon2d":
		h.variant = argon2d
	case "argon2i":
		h.variant = argon2i
	case "argon2id":
		h.variant = argon2id
	default:
		return nil, malformed("argon2: variant %.12q", f[1])
	}
	switch f[2] {
	case "v=19":
		h.version = argon2v13
	case "v=16":
		h.version = argon2v10
	default:
		return nil, malformed("argon2: version %.12q, want v=19 or v=16", f[2])
	}
	ps := strings.SplitN(f[3], ",", 4)
	if len(ps) != 3 {
		return nil, malformed("argon2: parameters %.40q, want m=,t=,p=", f[3])
	}
	m, okM := param(ps[0], "m=")
	t, okT := param(ps[1], "t=")
	p, okP := param(ps[2], "p=")
	if !okM || !okT || !okP {
		return nil, malformed("argon2: parameters %.40q, want m=,t=,p=", f[3])
	}
	if p > maxThreads {
		return nil, malformed("argon2: p=%d over %d", p, maxThreads)
	}
	salt, err := decode(f[4], maxSaltLen)
	if err != nil {
		return nil, malformed("argon2: salt: %v", err)
	}
	key, err := decode(f[5], maxKeyLen)
	if err != nil {
		return nil, malformed("argon2: key: %v", err)
	}
	h.params = Argon2id{Memory: m, Time: t, Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := h.params.Validate(); err != nil {
		return nil, malformed("%v", err)
	}
	h.salt, h.key = salt, key
	return h, nil
}

// set names the variant and version, which choose the code that
// computes the hash, and the parameters.
func (h *djangoArgon2) set() string {
	variant := [...]string{argon2d: "argon2d", argon2i: "argon2i", argon2id: "argon2id"}[h.variant]
	p := h.params
	return fmt.Sprintf("%s$%s$v=%d$m=%d,t=%d,p=%d", DjangoArgon2, variant, h.version, p.Memory, p.Time, p.Threads)
}

func (h *djangoArgon2) verify(pw latchkey.Password) bool {
	p := h.params
	var key []byte
	switch {
	case h.version == argon2v13 && h.variant == argon2id:
		key = argon2.IDKey([]byte(pw), h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	case h.version == argon2v13 && h.variant == argon2i:
		key = argon2.Key([]byte(pw), h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	default:
		// x/crypto/argon2 has neither version 1.0 nor Argon2d.
		key = argon2Key(h.variant, h.version, []byte(pw), h.salt, p.Time, p.Memory, uint32(p.Threads), p.KeyLen)
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// argon2Block is one 1 KiB block of Argon2's memory.
type argon2Block [128]uint64

// argon2Key computes Argon2 (RFC 9106) of any variant, in version 1.3 or
// 1.0, without secret or associated data. Version 1.0 differs in two
// places only: the version number hashed into H0, and that blocks of later
// passes overwrite the old ones instead of being XORed into them. It is
// plain Go, lanes computed in turn, for the old and rare hashes that
// x/crypto/argon2 cannot check; parameters must have passed Validate.
func argon2Key(variant, version uint32, pw, salt []byte, time, memory, lanes, keyLen uint32) []byte {
	// H0 hashes the parameters as given, before memory is rounded.
	h0 := make([]byte, 0, blake2b.Size+8)
	b2, _ := blake2b.New512(nil)
	for _, v := range []uint32{lanes, keyLen, memory, time, version, variant} {
		b2.Write(binary.LittleEndian.AppendUint32(nil, v))
	}
	for _, b := range [][]byte{pw, salt, nil, nil} { // password, salt, secret, data
		b2.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
		b2.Write(b)
	}
	h0 = b2.Sum(h0)

	// Memory is a whole number of segments, 4 per lane, at least 2 blocks
	// each.
	const syncPoints = 4
	segment := max(memory/(syncPoints*lanes), 2)
	laneLen := segment * syncPoints
	memory = laneLen * lanes
	B := make([]argon2Block, memory)

	var buf [1024]byte
	for l := uint32(0); l < lanes; l++ {
		for i := uint32(0); i < 2; i++ {
			blake2bLong(buf[:], h0, binary.LittleEndian.AppendUint32(nil, i), binary.LittleEndian.AppendUint32(nil, l))
			for k := range B[l*laneLen+i] {
				B[l*laneLen+i][k] = binary.LittleEndian.Uint64(buf[8*k:])
			}
		}
	}

	var zero, in, addrs argon2Block
	for pass := uint32(0); pass < time; pass++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			independent := variant == argon2i || variant == argon2id && pass == 0 && slice < syncPoints/2
			for l := uint32(0); l < lanes; l++ {
				if independent {
					in = argon2Block{uint64(pass), uint64(l), uint64(slice), uint64(memory), uint64(time), uint64(variant)}
				}
				start := uint32(0)
				if pass == 0 && slice == 0 {
					start = 2 // the first two blocks of a lane are made from H0
					if independent {
						argon2NextAddresses(&addrs, &in, &zero)
					}
				}
				for i := start; i < segment; i++ {
					cur := l*laneLen + slice*segment + i
					prev := cur - 1
					if slice == 0 && i == 0 {
						prev = l*laneLen + laneLen - 1
					}
					var rnd uint64
					if independent {
						if i%128 == 0 {
							argon2NextAddresses(&addrs, &in, &zero)
						}
						rnd = addrs[i%128]
					} else {
						rnd = B[prev][0]
					}
					refLane := uint32(rnd>>32) % lanes
					if pass == 0 && slice == 0 {
						refLane = l
					}
					ref := refLane*laneLen + argon2RefIndex(uint32(rnd), pass, slice, i, segment, laneLen, refLane == l)
					xor := version == argon2v13 && pass > 0
					argon2Compress(&B[cur], &B[prev], &B[ref], xor)
				}
			}
		}
	}

	last := B[laneLen-1]
	for l := uint32(1); l < lanes; l++ {
		for k, v := range B[l*laneLen+laneLen-1] {
			last[k] ^= v
		}
	}
	for k, v := range last {
		binary.LittleEndian.PutUint64(buf[8*k:], v)
	}
	key := make([]byte, keyLen)
	blake2bLong(key, buf[:])
	return key
}

// argon2RefIndex maps the low 32 pseudo-random bits j1 to a block of the
// reference lane that the block at index i of the segment may use: any
// finished block, but not the one just before it.
func argon2RefIndex(j1, pass, slice, i, segment, laneLen uint32, sameLane bool) uint32 {
	var area, start uint32
	switch {
	case pass == 0 && slice == 0:
		area = i - 1
	case pass == 0 && sameLane:
		area = slice*segment + i - 1
	case pass == 0:
		area = slice * segment
		if i == 0 {
			area--
		}
	case sameLane:
		area = laneLen - segment + i - 1
	default:
		area = laneLen - segment
		if i == 0 {
			area--
		}
	}
	if pass > 0 && slice != 3 {
		start = (slice + 1) * segment
	}
	x := uint64(j1) * uint64(j1) >> 32
	rel := uint64(area) - 1 - (uint64(area) * x >> 32)
	return uint32((uint64(start) + rel) % uint64(laneLen))
}

// argon2NextAddresses makes the next block of pseudo-random numbers for
// data-independent addressing: G(0, G(0, in)) after counting in up.
func argon2NextAddresses(addrs, in, zero *argon2Block) {
	in[6]++
	argon2Compress(addrs, zero, in, false)
	argon2Compress(addrs, zero, addrs, false)
}

// argon2Compress sets out to G(x, y), or XORs G(x, y) into out.
func argon2Compress(out, x, y *argon2Block, xor bool) {
	var r argon2Block
	for k := range r {
		r[k] = x[k] ^ y[k]
	}
	z := r
	for _, idx := range &argon2Rounds {
		argon2Permute(&z, &idx)
	}
	if xor {
		for k := range out {
			out[k] ^= r[k] ^ z[k]
		}
	} else {
		for k := range out {
			out[k] = r[k] ^ z[k]
		}
	}
}

// argon2Rounds lists the words that each application of P mixes: the
// block's eight rows of 16 words, then its eight columns of 8 pairs.
var argon2Rounds = func() (r [16][16]int) {
	for i := 0; i < 8; i++ {
		for k := 0; k < 16; k++ {
			r[i][k] = 16*i + k
			r[8+i][k] = 16*(k/2) + 2*i + k%2
		}
	}
	return r
}()

// argon2Permute applies Argon2's permutation P, BLAKE2b's round with
// multiplications, to the 16 words of b at idx.
func argon2Permute(b *argon2Block, idx *[16]int) {
	var v [16]uint64
	for k, i := range idx {
		v[k] = b[i]
	}
	v[0], v[4], v[8], v[12] = argon2G(v[0], v[4], v[8], v[12])
	v[1], v[5], v[9], v[13] = argon2G(v[1], v[5], v[9], v[13])
	v[2], v[6], v[10], v[14] = argon2G(v[2], v[6], v[10], v[14])
	v[3], v[7], v[11], v[15] = argon2G(v[3], v[7], v[11], v[15])
	v[0], v[5], v[10], v[15] = argon2G(v[0], v[5], v[10], v[15])
	v[1], v[6], v[11], v[12] = argon2G(v[1], v[6], v[11], v[12])
	v[2], v[7], v[8], v[13] = argon2G(v[2], v[7], v[8], v[13])
	v[3], v[4], v[9], v[14] = argon2G(v[3], v[4], v[9], v[14])
	for k, i := range idx {
		b[i] = v[k]
	}
}

// argon2G is Argon2's G: BLAKE2b's G with each addition x+y made x+y+2·xl·yl
// of the low 32 bits.
func argon2G(a, b, c, d uint64) (uint64, uint64, uint64, uint64) {
	a += b + 2*uint64(uint32(a))*uint64(uint32(b))
	d = bits.RotateLeft64(d^a, -32)
	c += d + 2*uint64(uint32(c))*uint64(uint32(d))
	b = bits.RotateLeft64(b^c, -24)
	a += b + 2*uint64(uint32(a))*uint64(uint32(b))
	d = bits.RotateLeft64(d^a, -16)
	c += d + 2*uint64(uint32(c))*uint64(uint32(d))
	b = bits.RotateLeft64(b^c, -63)
	return a, b, c, d
}

// blake2bLong is Argon2's variable-length hash H' of the concatenated ins,
// writing len(out) bytes.
func blake2bLong(out []byte, ins ...[]byte) {
	n := len(out)
	outLen := binary.LittleEndian.AppendUint32(nil, uint32(n))
	if n <= blake2b.Size {
		b2, _ := blake2b.New(n, nil)
		b2.Write(outLen)
		for _, in := range ins {
			b2.Write(in)
		}
		b2.Sum(out[:0])
		return
	}
	b2, _ := blake2b.New512(nil)
	b2.Write(outLen)
	for _, in := range ins {
		b2.Write(in)
	}
	v := b2.Sum(nil)
	// r = ⌈n/32⌉ - 2 blocks of 64 bytes, each giving its first half, then
	// one of the n-32r bytes that remain.
	r := (n+31)/32 - 2
	copy(out, v[:32])
	for i := 1; i < r; i++ {
		s := blake2b.Sum512(v)
		v = s[:]
		copy(out[32*i:], v[:32])
	}
	b2, _ = blake2b.New(n-32*r, nil)
	b2.Write(v)
	b2.Sum(out[32*r : 32*r])
}
