package osdetect_test

import _ "github.com/vmcheck/vmcheck/osdetect/families" // the tests read Linux and Windows guests
