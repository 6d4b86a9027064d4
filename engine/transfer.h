// How much of a buffer each system call of an Asio read or write is handed.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <limits>

namespace orgledger {

// An Asio completion condition that hands every system call all that is left of the buffers,
// until they are done or an error. Asio's own (transfer_all and the others) hand each call at
// most 64 KiB: a bill of 3 MB was about 50 sends, each a trip through the io_context, and as
// many reads on the other side. For plain TCP; through TLS, OpenSSL writes a record of at most
// 16 KiB a call whatever it is handed.
struct TransferWhole {
  size_t operator()(const boost::system::error_code& error, size_t) const {
    return error ? 0 : std::numeric_limits<size_t>::max();
  }
};

}  // namespace orgledger
