package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Duration is a duration in Prometheus syntax ("90s", "5m", "1h30m",
// "7d"). Its decoding errors name the line.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := model.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 30s, 5m, 1h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d Duration) String() string { return model.Duration(d).String() }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Bytes is a size in bytes: a plain integer or a number with a base-2 unit
// ("512KiB", "8MiB", "1GiB").
type Bytes int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			*b = Bytes(v)
			return nil
		}
		if v, err := units.ParseBase2Bytes(n.Value); err == nil {
			*b = Bytes(v)
			return nil
		}
	}
	return fmt.Errorf("line %d: %q is not a size (use e.g. 512KiB, 8MiB, or a number of bytes)", n.Line, n.Value)
}

// MarshalYAML implements yaml.Marshaler.
func (b Bytes) MarshalYAML() (any, error) { return b.String(), nil }

func (b Bytes) String() string { return units.Base2Bytes(b).String() }
