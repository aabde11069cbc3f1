// Just enough XML for S3 responses (ListObjectsV2, errors, multipart): finds elements by tag
// name and decodes entities. S3 response bodies are flat, attribute-free documents, so no
// general parser is needed; malformed input yields empty results, never a crash.
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bulwark::storage::s3 {

// Inner text (raw, not decoded) of every <tag>...</tag> in order; <tag/> gives "".
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag);

// Decoded text of the first <tag> element, or "" when absent.
std::string XmlText(std::string_view xml, std::string_view tag);

// Replaces &amp; &lt; &gt; &quot; &apos; and numeric references (&#NN; &#xNN;) with UTF-8.
std::string XmlDecode(std::string_view s);

// Escapes & < > " ' for use in element text.
std::string XmlEscape(std::string_view s);

}  // namespace bulwark::storage::s3
