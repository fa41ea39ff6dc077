package ingest

import "github.com/prometheus/common/model"

// FNV-1a, as in prometheus/common/model.
const (
	offset64 = 14695981039346656037
	prime64  = 1099511628211
)

// Fingerprint returns the fingerprint of a sorted label set. It equals
// model.LabelSet.Fingerprint of the same labels (the identity Alertmanager
// uses, so the two can be cross-referenced) but needs no map and no sort:
// fingerprinting is on the per-event hot path. TestFingerprintMatchesModel
// and FuzzFingerprint hold it to model's result.
func (ls Labels) Fingerprint() model.Fingerprint {
	h := uint64(offset64)
	for i := range ls {
		h = hashAdd(h, ls[i].Name)
		h = hashAddByte(h, model.SeparatorByte)
		h = hashAdd(h, ls[i].Value)
		h = hashAddByte(h, model.SeparatorByte)
	}
	return model.Fingerprint(h)
}

// FingerprintOf returns the fingerprint of the subset of ls named by
// identity (a sorted, de-duplicated list of label names). Names absent from
// ls are skipped, as model.LabelSet would not hold them either.
func (ls Labels) FingerprintOf(identity []string) model.Fingerprint {
	h := uint64(offset64)
	i := 0
	for _, name := range identity {
		for i < len(ls) && ls[i].Name < name {
			i++
		}
		if i == len(ls) {
			break
		}
		if ls[i].Name != name {
			continue
		}
		h = hashAdd(h, ls[i].Name)
		h = hashAddByte(h, model.SeparatorByte)
		h = hashAdd(h, ls[i].Value)
		h = hashAddByte(h, model.SeparatorByte)
	}
	return model.Fingerprint(h)
}

func hashAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

func hashAddByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	h *= prime64
	return h
}
