//! Attribute macros of `geyser-sdk`. They generate the component export glue in a hidden item
//! so that user code never names wit-bindgen or the WASI bindings.

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemFn, parse_macro_input};

/// Turns `fn NAME(req: geyser_sdk::http::Request) -> geyser_sdk::http::Result` into the
/// function's `wasi:http/incoming-handler` export.
#[proc_macro_attribute]
pub fn http(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[geyser_sdk::http] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let function = parse_macro_input!(item as ItemFn);
    if function.sig.inputs.len() != 1 || function.sig.asyncness.is_some() {
        return syn::Error::new_spanned(
            &function.sig,
            "#[geyser_sdk::http] expects `fn handle(req: geyser_sdk::http::Request) -> geyser_sdk::http::Result`",
        )
        .to_compile_error()
        .into();
    }
    let name = &function.sig.ident;
    quote! {
        #function

        #[doc(hidden)]
        const _: () = {
            struct __GeyserHttpHandler;

            impl ::geyser_sdk::__private::wasi::exports::http::incoming_handler::Guest for __GeyserHttpHandler {
                fn handle(
                    request: ::geyser_sdk::__private::wasi::http::types::IncomingRequest,
                    response_out: ::geyser_sdk::__private::wasi::http::types::ResponseOutparam,
                ) {
                    ::geyser_sdk::__private::serve_http(request, response_out, #name)
                }
            }

            ::geyser_sdk::__private::wasi::http::proxy::export!(__GeyserHttpHandler);
        };
    }
    .into()
}
