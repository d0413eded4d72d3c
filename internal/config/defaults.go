package config

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/kelseyhightower/envconfig"
)

// Defaults returns the configuration of an empty environment: every
// variable at its default, whatever the process environment holds. Programs
// that run jitbot with settings of their own (jitbot demo) start from it, so
// that a variable of the user's shell cannot leak in. The defaults are read
// from the same struct tags envconfig reads.
func Defaults() (Config, error) {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		def, ok := f.Tag.Lookup("default")
		if !ok {
			continue
		}
		if err := setDefault(v.Field(i), def); err != nil {
			return Config{}, fmt.Errorf("default of %s: %w", f.Tag.Get("envconfig"), err)
		}
	}
	return c, c.check()
}

func setDefault(field reflect.Value, def string) error {
	if d, ok := field.Addr().Interface().(envconfig.Decoder); ok {
		return d.Decode(def)
	}
	switch field.Kind() {
	case reflect.String:
		field.SetString(def)
	case reflect.Bool:
		b, err := strconv.ParseBool(def)
		if err != nil {
			return err
		}
		field.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(def, 10, 64)
		if err != nil {
			return err
		}
		field.SetInt(n)
	default:
		return fmt.Errorf("a %s default is not supported", field.Type())
	}
	return nil
}
