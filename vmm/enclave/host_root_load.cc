// vmm/enclave/host_root_load.cc — see host_root_load.h.
#include "vmm/enclave/host_root_load.h"

#include "vmm/enclave/attestation_keys.h"

#include <ctime>
#include <openssl/crypto.h>
#include <unistd.h>

namespace vmm {

namespace {

void wipe(std::string& secret)
{
    OPENSSL_cleanse(secret.data(), secret.size());
}

} // namespace

std::shared_ptr<nsm::DocumentSigner> make_enclave_signer(const HostRoot& root, const std::string& module_id, eif::PkeyPtr leaf_key)
{
    eif::X509Ptr leaf = issue_enclave_leaf_certificate(root.parsed, module_id, std::time(nullptr), leaf_key.get());
    return std::make_shared<nsm::DocumentSigner>(nsm::DocumentSigner::create(std::move(leaf_key), leaf.get(), { root.parsed.cert.get() }));
}

HostRootLoad HostRootLoad::start()
{
    HostRootLoad load;
    if (::geteuid() != 0)
        return load;
    load.m_result = std::make_shared<Result>();
    load.m_thread = std::thread([result = load.m_result, order = load.m_order.get_future()]() mutable {
        try {
            result->root = load_or_create_parsed_host_root();
            result->leaf_key = nsm::new_p384_key();
            std::optional<std::string> module_id = order.get();
            if (!module_id)
                return; // take() hands root and key over as they are
            result->signer = make_enclave_signer(*result->root, *module_id, std::move(result->leaf_key));
            result->signer_for = *module_id;
            wipe(result->root->pem.key_pem);
            result->root.reset(); // EVP_PKEY_free clears the parsed key's private part
        } catch (...) {
            result->error = std::current_exception();
        }
    });
    return load;
}

void HostRootLoad::order(std::optional<std::string> module_id)
{
    if (!m_result || m_ordered)
        return;
    m_ordered = true;
    m_order.set_value(std::move(module_id));
}

void HostRootLoad::join()
{
    if (m_thread.joinable())
        m_thread.join();
}

HostRootLoad::~HostRootLoad()
{
    order(std::nullopt);
    join();
    if (m_result && m_result->root)
        wipe(m_result->root->pem.key_pem);
}

void HostRootLoad::issue_leaf_for(const std::string& module_id)
{
    order(module_id);
}

std::shared_ptr<nsm::DocumentSigner> HostRootLoad::take_signer(const std::string& module_id)
{
    auto in_place = [&module_id] {
        HostRoot root = load_or_create_parsed_host_root();
        auto signer = make_enclave_signer(root, module_id, nsm::new_p384_key());
        wipe(root.pem.key_pem);
        return signer;
    };
    if (!m_result)
        return in_place();
    order(module_id);
    join();
    std::shared_ptr<Result> result = std::move(m_result);
    if (result->error)
        std::rethrow_exception(result->error);
    if (result->signer_for != module_id)
        return in_place(); // ordered for another ID
    return std::move(result->signer);
}

nsm::KeyAndCert HostRootLoad::take()
{
    if (!m_result)
        return load_or_create_host_root();
    order(std::nullopt);
    join();
    std::shared_ptr<Result> result = std::move(m_result);
    if (result->error)
        std::rethrow_exception(result->error);
    if (!result->root) // issued already (issue_leaf_for): the root's key is gone, load it again
        return load_or_create_host_root();
    m_leaf_key = std::move(result->leaf_key);
    nsm::KeyAndCert root = std::move(result->root->pem);
    result->root.reset();
    return root;
}

eif::PkeyPtr HostRootLoad::take_leaf_key()
{
    return m_leaf_key ? std::move(m_leaf_key) : nsm::new_p384_key();
}

} // namespace vmm
