// XLA FFI handlers (CPU) for moreau-jax: decode buffers and attributes, then
// hand everything to Rust (src/xla/) through the cxx bridge.
//
// Built by build.rs against the XLA FFI headers of the installed jaxlib
// (jax.ffi.include_dir()), so the FFI API version matches the runtime.
// Handlers keep no state of their own and may run on several threads at once;
// Rust errors and panics arrive as rust::Error exceptions and leave as
// ffi::Error, never as an exception crossing into XLA.

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "rust/cxx.h"
#include "xla/ffi/api/ffi.h"
#include "moreau_jax/src/xla/mod.rs.h"

namespace ffi = xla::ffi;

namespace {

// The element-type tag of a buffer for Rust (src/xla/mod.rs: DTYPE_F64 = 0,
// DTYPE_F32 = 1), or -1 for any other type.  Rust converts float32 to float64 on
// entry and back on exit: the solver computes in float64 whatever XLA holds
// (with jax_enable_x64 off there is no float64 buffer at all).
int DtypeTag(ffi::DataType t) {
  if (t == ffi::DataType::F64) return 0;
  if (t == ffi::DataType::F32) return 1;
  return -1;
}

// Every operand and result is a float32 or float64 array (any mix) of rank >= 1:
// leading batch dimensions (the same count for all) followed by one data dimension.
ffi::Error Dispatch(int32_t kind, ffi::RemainingArgs args, ffi::RemainingRets rets,
                    int64_t pattern_id, std::string_view settings) {
  if (rets.size() == 0) {
    return ffi::Error::InvalidArgument("moreau: custom call without results");
  }
  std::vector<moreau_ffi::Buf> ins, outs;
  std::vector<int64_t> lead, batch;
  ins.reserve(args.size());
  outs.reserve(rets.size());

  for (size_t i = 0; i < rets.size(); ++i) {
    auto r = rets.get<ffi::AnyBuffer>(i);
    if (r.has_error()) return r.error();
    ffi::AnyBuffer buf = **r;
    int tag = DtypeTag(buf.element_type());
    if (tag < 0) {
      return ffi::Error::InvalidArgument("moreau: results must be float32 or float64");
    }
    auto dims = buf.dimensions();
    if (dims.size() < 1) return ffi::Error::InvalidArgument("moreau: result of rank 0");
    if (i == 0) batch.assign(dims.begin(), dims.end() - 1);
    if (dims.size() - 1 != batch.size()) {
      return ffi::Error::InvalidArgument("moreau: results with different batch ranks");
    }
    outs.push_back({reinterpret_cast<size_t>(buf.untyped_data()), buf.element_count(),
                    static_cast<uint8_t>(tag)});
  }

  for (size_t i = 0; i < args.size(); ++i) {
    auto a = args.get<ffi::AnyBuffer>(i);
    if (a.has_error()) return a.error();
    ffi::AnyBuffer buf = *a;
    int tag = DtypeTag(buf.element_type());
    if (tag < 0) {
      return ffi::Error::InvalidArgument(
          "moreau: operand " + std::to_string(i) + " is neither float32 nor float64");
    }
    auto dims = buf.dimensions();
    if (dims.size() != batch.size() + 1) {
      return ffi::Error::InvalidArgument(
          "moreau: operand " + std::to_string(i) + " has rank " + std::to_string(dims.size()) +
          ", expected " + std::to_string(batch.size() + 1));
    }
    lead.insert(lead.end(), dims.begin(), dims.end() - 1);
    ins.push_back({reinterpret_cast<size_t>(buf.untyped_data()), buf.element_count(),
                   static_cast<uint8_t>(tag)});
  }

  try {
    moreau_ffi::ffi_dispatch(
        kind, pattern_id, rust::Str(settings.data(), settings.size()),
        rust::Slice<const int64_t>(batch.data(), batch.size()),
        rust::Slice<const int64_t>(lead.data(), lead.size()),
        rust::Slice<const moreau_ffi::Buf>(ins.data(), ins.size()),
        rust::Slice<const moreau_ffi::Buf>(outs.data(), outs.size()));
  } catch (const rust::Error& e) {
    return ffi::Error::InvalidArgument(e.what());
  } catch (const std::exception& e) {
    return ffi::Error::Internal(std::string("moreau: ") + e.what());
  } catch (...) {
    return ffi::Error::Internal("moreau: unknown C++ exception");
  }
  return ffi::Error::Success();
}

template <int32_t Kind>
ffi::Error Handler(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t pattern_id,
                   std::string_view settings) {
  return Dispatch(Kind, args, rets, pattern_id, settings);
}

}  // namespace

#define MOREAU_BINDING                   \
  ffi::Ffi::Bind()                       \
      .RemainingArgs()                   \
      .RemainingRets()                   \
      .Attr<int64_t>("pattern_id")       \
      .Attr<std::string_view>("settings")

XLA_FFI_DEFINE_HANDLER_SYMBOL(MoreauSolveFfi, Handler<0>, MOREAU_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(MoreauJvpFfi, Handler<1>, MOREAU_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(MoreauVjpFfi, Handler<2>, MOREAU_BINDING);
