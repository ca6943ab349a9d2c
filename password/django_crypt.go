package password

// This file implements the traditional DES-based crypt(3) that Django's
// CryptPasswordHasher called through Python's crypt module: the Go standard
// library's DES cannot take the salt, which changes DES's expansion step.

// cryptAlphabet is crypt(3)'s base64 alphabet, in value order.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// cryptBase64 reports whether s is in crypt(3)'s alphabet and its last
// character's value is a multiple of last.
func cryptBase64(s string, last int) bool { return inAlphabet(s, cryptAlphabet, last) }

// desCrypt returns crypt(pw, salt) for a two-character salt of
// cryptAlphabet: the salt, then the 11-character encoding of the zero block
// encrypted 25 times with DES, whose key is the first 8 bytes of pw (up to
// a NUL) shifted left by one bit, and whose expansion step swaps the
// outputs i and i+24 for each bit i of the salt.
func desCrypt(pw []byte, salt string) string {
	var key uint64
	for i := 0; i < 8 && i < len(pw) && pw[i] != 0; i++ {
		key |= uint64(pw[i]<<1) << (56 - 8*i)
	}
	var swap uint64 // the salt's bit i at bit 23-i, as the expansion's halves count
	for i := 0; i < 12; i++ {
		v := uint64(alphabetIndex(cryptAlphabet, salt[i/6]))
		if v>>(i%6)&1 == 1 {
			swap |= 1 << (23 - i)
		}
	}
	ks := desKeySchedule(key)
	var block uint64
	for range 25 {
		block = desEncrypt(block, &ks, swap)
	}
	out := make([]byte, 2, 13)
	copy(out, salt)
	for i := 0; i < 11; i++ {
		// Six bits at a time from the top; the last character holds the
		// 4 low bits followed by 2 zero bits.
		shift := 58 - 6*i
		var v uint64
		if shift >= 0 {
			v = block >> shift
		} else {
			v = block << -shift
		}
		out = append(out, cryptAlphabet[v&63])
	}
	return string(out)
}

// desKeySchedule returns DES's 16 round keys (48 bits each) for key.
func desKeySchedule(key uint64) (ks [16]uint64) {
	cd := desPermute(key, 64, desPC1[:])
	c, d := cd>>28, cd&(1<<28-1)
	for r, n := range desShifts {
		c = (c<<n | c>>(28-n)) & (1<<28 - 1)
		d = (d<<n | d>>(28-n)) & (1<<28 - 1)
		ks[r] = desPermute(c<<28|d, 56, desPC2[:])
	}
	return ks
}

// desEncrypt encrypts one block with round keys ks, its expansion step
// perturbed by swap (zero for standard DES).
func desEncrypt(block uint64, ks *[16]uint64, swap uint64) uint64 {
	b := desPermute(block, 64, desIP[:])
	l, r := b>>32, b&(1<<32-1)
	for _, k := range ks {
		e := desPermute(r, 32, desE[:])
		hi, lo := e>>24, e&(1<<24-1)
		t := (hi ^ lo) & swap
		e = (hi^t)<<24 | (lo ^ t)
		e ^= k
		var f uint64
		for s := 0; s < 8; s++ {
			six := e >> (42 - 6*s) & 63
			f = f<<4 | uint64(desS[s][six>>4&2|six&1][six>>1&15])
		}
		l, r = r, l^desPermute(f, 32, desP[:])
	}
	return desPermute(r<<32|l, 64, desFP[:])
}

// desPermute returns the bits of the width-bit in at the positions of
// table, numbered from 1 at the most significant bit as FIPS 46-3 does.
func desPermute(in uint64, width int, table []uint8) uint64 {
	var out uint64
	for _, p := range table {
		out = out<<1 | in>>(width-int(p))&1
	}
	return out
}

// inAlphabet reports whether every byte of s is in alphabet and the value
// of the last is a multiple of last.
func inAlphabet(s, alphabet string, last int) bool {
	for i := 0; i < len(s); i++ {
		v := alphabetIndex(alphabet, s[i])
		if v < 0 || i == len(s)-1 && v%last != 0 {
			return false
		}
	}
	return true
}

func alphabetIndex(alphabet string, c byte) int {
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == c {
			return i
		}
	}
	return -1
}

// The tables of FIPS 46-3.
var (
	desIP = [64]uint8{
		58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
		62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
		57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
		61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
	}
	desFP = [64]uint8{
		40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31,
		38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29,
		36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
		34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
	}
	desE = [48]uint8{
		32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9,
		8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
		16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25,
		24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
	}
	desP = [32]uint8{
		16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
		2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
	}
	desPC1 = [56]uint8{
		57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
		10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
		63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
		14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
	}
	desPC2 = [48]uint8{
		14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
		23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
		41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
		44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
	}
	desShifts = [16]uint{1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1}
	desS      = [8][4][16]uint8{
		{
			{14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7},
			{0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8},
			{4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0},
			{15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13},
		}, {
			{15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10},
			{3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5},
			{0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15},
			{13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9},
		}, {
			{10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8},
			{13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1},
			{13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7},
			{1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12},
		}, {
			{7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15},
			{13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9},
			{10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4},
			{3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14},
		}, {
			{2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9},
			{14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6},
			{4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14},
			{11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3},
		}, {
			{12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11},
			{10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8},
			{9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6},
			{4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13},
		}, {
			{4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1},
			{13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6},
			{1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2},
			{6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12},
		}, {
			{13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7},
			{1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2},
			{7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8},
			{2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11},
		},
	}
)
