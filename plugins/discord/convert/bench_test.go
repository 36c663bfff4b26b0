package convert

import (
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// typicalGolden is the body BenchmarkConvert/slash_command_typical converts:
// Discord's documented slash command example (guild member, one string
// option, about 1 KB).
const typicalGolden = "slash_command_docs_cardsearch"

// BenchmarkConvert measures conversions per second on one core:
//
//	go test -run '^$' -bench Convert -benchmem -cpu 1 ./plugins/discord/convert
//
// all_goldens converts the whole golden set per iteration and reports the
// mean: the number to hold at ≥ 200,000 conversions/s on one core.
// slash_command_typical is one typical slash command; the per-golden
// sub-benchmarks show where the time goes.
func BenchmarkConvert(b *testing.B) {
	benchConvert(b, Convert, true)
}

// BenchmarkConvertGeneric is BenchmarkConvert (typical and mean only) on the
// generic path alone (decode into maps, then walk: what Convert did before
// the typed path, with today's faster string and whitespace scanning), so
// that one run compares both paths on the same machine at the same time.
func BenchmarkConvertGeneric(b *testing.B) {
	benchConvert(b, func(f pluginapi.Forward) pluginapi.Result {
		res, _ := convertGeneric(f)
		return res
	}, false)
}

func benchConvert(b *testing.B, convert func(pluginapi.Forward) pluginapi.Result, perGolden bool) {
	goldens := loadGoldens(b)
	for _, g := range goldens {
		if g.name == typicalGolden {
			b.Run("slash_command_typical", func(b *testing.B) { benchOne(b, convert, g.forward) })
		}
	}
	b.Run("all_goldens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, g := range goldens {
				convert(g.forward)
			}
		}
		conversions := float64(b.N) * float64(len(goldens))
		b.ReportMetric(conversions/b.Elapsed().Seconds(), "conversions/s")
	})
	if !perGolden {
		return
	}
	for _, g := range goldens {
		b.Run(g.name, func(b *testing.B) { benchOne(b, convert, g.forward) })
	}
}

func benchOne(b *testing.B, convert func(pluginapi.Forward) pluginapi.Result, f pluginapi.Forward) {
	b.ReportAllocs()
	b.SetBytes(int64(len(f.Body)))
	for b.Loop() {
		convert(f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conversions/s")
}
