package strictjson_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/internal/strictjson"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type inner struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

type embedded struct {
	Phase string `json:"phase"`
}

type doc struct {
	embedded
	Versions []inner          `json:"versions"`
	Labels   map[string]int   `json:"labels,omitempty"`
	Any      any              `json:"any,omitempty"`
	Raw      json.RawMessage  `json:"raw,omitempty"`
	When     *time.Time       `json:"when,omitempty"`
	Nested   *inner           `json:"nested,omitempty"`
	ByName   map[string]inner `json:"byName,omitempty"`
	Skipped  string           `json:"-"`
	Plain    string
}

func TestDecodeRejectsDuplicateAndCaseFoldedKeys(t *testing.T) {
	for in, want := range map[string]string{
		`{"versions":[],"versions":[]}`:                        "ninelives: bad JSON key: versions: duplicate key",
		`{"Versions":[]}`:                                      `ninelives: bad JSON key: Versions: unknown key; keys are case-sensitive: the field is "versions"`,
		`{"versions":[{"name":"a","Name":"b"}]}`:               `versions[0].Name: unknown key; keys are case-sensitive: the field is "name"`,
		`{"versions":[{"name":"a"},{"weight":1,"weight":2}]}`:  "versions[1].weight: duplicate key",
		`{"labels":{"a":1,"a":2}}`:                             `labels["a"]: duplicate key`,
		`{"any":{"x":{"y":1,"y":1}}}`:                          "any.x.y: duplicate key",
		`{"raw":{"k":1,"k":2}}`:                                "raw.k: duplicate key",
		`{"nested":{"WEIGHT":3}}`:                              `nested.WEIGHT: unknown key; keys are case-sensitive: the field is "weight"`,
		`{"byName":{"x":{"name":"a","name":"a"}}}`:             `byName["x"].name: duplicate key`,
		`{"PHASE":"p"}`:                                        `PHASE: unknown key; keys are case-sensitive: the field is "phase"`,
		`{"plain":"x"}`:                                        `plain: unknown key; keys are case-sensitive: the field is "Plain"`,
		`{"phase":"a","phase":"b"}`:                            "phase: duplicate key",
		`{"versions":[{"name":"a","weight":1}],"versions":[]}`: "versions: duplicate key",
	} {
		var d doc
		err := strictjson.Decode([]byte(in), &d)
		require.Error(t, err, in)
		assert.ErrorIs(t, err, strictjson.ErrKey, in)
		assert.ErrorContains(t, err, want, in)
	}
}

func TestDecodeKeepsEncodingJSONsErrorsAndAcceptsGoodInput(t *testing.T) {
	var d doc
	err := strictjson.Decode([]byte(`{"versions":[{"name":"a","weight":1}],"labels":{"a":1,"A":2},"when":"2026-01-02T03:04:05Z",`+
		`"phase":"p","Plain":"x","any":[{"a":1},{"a":1}],"byName":{"x":{"name":"b"}}}`), &d)
	require.NoError(t, err)
	assert.Equal(t, []inner{{Name: "a", Weight: 1}}, d.Versions)
	assert.Equal(t, map[string]int{"a": 1, "A": 2}, d.Labels, "a map's keys differ by case: both kept")
	assert.Equal(t, "p", d.Phase)

	err = strictjson.Decode([]byte(`{"versionz":[]}`), &d)
	assert.EqualError(t, err, `json: unknown field "versionz"`)
	var te *json.UnmarshalTypeError
	assert.ErrorAs(t, strictjson.Decode([]byte(`{"versions":"x"}`), &d), &te)
	var se *json.SyntaxError
	assert.ErrorAs(t, strictjson.Decode([]byte(`{"versions":`+"\x00"), &d), &se)

	var tr *strictjson.TrailingError
	require.ErrorAs(t, strictjson.Decode([]byte(`{}  {"a":1}`), &d), &tr)
	assert.Equal(t, 4, tr.Offset)
	assert.EqualError(t, tr, `trailing data after the JSON value at offset 4: "{\"a\":1}"`)
	assert.NoError(t, strictjson.Decode([]byte(" {} \n"), &d))
}
