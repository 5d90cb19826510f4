/* SwiftPM needs one source file per C target; the ABI itself is include/pos_plugin.h. */
#include "pos_plugin.h"
