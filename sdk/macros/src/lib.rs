//! Attribute macros of `geyser-sdk`. They generate the component export glue in a hidden module
//! so that user code never names wit-bindgen or the WASI bindings. Exports are generated in the
//! user's crate (not in the SDK), so a component only declares the handler it implements.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{ItemFn, parse_macro_input};

/// The `geyser:function` WIT package, shared with the host.
const WIT: &str = include_str!("../../../wit/geyser-function.wit");

fn check_signature(function: &ItemFn, attr: &TokenStream, expected: &str) -> Option<TokenStream> {
    if !attr.is_empty() {
        return Some(
            syn::Error::new(
                proc_macro2::Span::call_site(),
                "this attribute takes no arguments",
            )
            .to_compile_error()
            .into(),
        );
    }
    if function.sig.inputs.len() != 1 || function.sig.asyncness.is_some() {
        return Some(
            syn::Error::new_spanned(&function.sig, format!("expected `{expected}`"))
                .to_compile_error()
                .into(),
        );
    }
    None
}

/// Turns `fn NAME(req: geyser_sdk::http::Request) -> geyser_sdk::http::Result` into the
/// function's `wasi:http/incoming-handler` export.
#[proc_macro_attribute]
pub fn http(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    if let Some(error) = check_signature(
        &function,
        &attr,
        "fn handle(req: geyser_sdk::http::Request) -> geyser_sdk::http::Result",
    ) {
        return error;
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

/// Bindings of `world` generated in the user's crate, with the imports taken from the SDK.
fn world_bindings(world: &str) -> proc_macro2::TokenStream {
    // The `with` keys name the contract's version, read from the WIT itself.
    let version = WIT
        .split("package geyser:function@")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("the WIT declares `package geyser:function@VERSION;`");
    let kv = format!("geyser:function/kv@{version}");
    let logging = format!("geyser:function/logging@{version}");
    let publish = format!("geyser:function/publish@{version}");
    quote! {
        ::geyser_sdk::__private::wit_bindgen::generate!({
            inline: #WIT,
            world: #world,
            runtime_path: "::geyser_sdk::__private::wit_bindgen::rt",
            with: {
                #kv: ::geyser_sdk::__private::imports::geyser::function::kv,
                #logging: ::geyser_sdk::__private::imports::geyser::function::logging,
                #publish: ::geyser_sdk::__private::imports::geyser::function::publish,
            },
        });
    }
}

/// The user's function plus a hidden module that generates `world`'s bindings and exports
/// `handler_impl` (an `impl ... Guest for Handler` block) from the user's crate.
fn export_handler(
    function: &ItemFn,
    kind: &str,
    world: &str,
    handler_impl: proc_macro2::TokenStream,
) -> TokenStream {
    let module = format_ident!("__geyser_{}_{}", kind, function.sig.ident);
    let bindings = world_bindings(world);
    quote! {
        #function

        #[doc(hidden)]
        mod #module {
            #bindings

            struct Handler;

            #handler_impl

            export!(Handler);
        }
    }
    .into()
}

/// Turns `fn NAME(event: geyser_sdk::event::Event) -> Result<(), String>` into the function's
/// `geyser:function/event-handler` export.
#[proc_macro_attribute]
pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    if let Some(error) = check_signature(
        &function,
        &attr,
        "fn handle(event: geyser_sdk::event::Event) -> Result<(), String>",
    ) {
        return error;
    }
    let name = &function.sig.ident;
    let handler = quote! {
        impl exports::geyser::function::event_handler::Guest for Handler {
            fn handle(event: geyser::function::types::Event) -> ::core::result::Result<(), ::std::string::String> {
                super::#name(::geyser_sdk::event::Event {
                    id: event.id,
                    source: event.source,
                    topic: event.topic,
                    key: event.key,
                    payload: event.payload,
                    headers: event.headers,
                    attempt: event.attempt,
                })
            }
        }
    };
    export_handler(
        &function,
        "event",
        "geyser:function/event-function",
        handler,
    )
}

/// Turns `fn NAME(tick: geyser_sdk::schedule::Tick) -> Result<(), String>` into the function's
/// `geyser:function/schedule-handler` export.
#[proc_macro_attribute]
pub fn schedule(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    if let Some(error) = check_signature(
        &function,
        &attr,
        "fn on_tick(tick: geyser_sdk::schedule::Tick) -> Result<(), String>",
    ) {
        return error;
    }
    let name = &function.sig.ident;
    let handler = quote! {
        impl exports::geyser::function::schedule_handler::Guest for Handler {
            fn on_tick(tick: geyser::function::types::Tick) -> ::core::result::Result<(), ::std::string::String> {
                super::#name(::geyser_sdk::schedule::Tick {
                    schedule: tick.schedule,
                    scheduled_time: tick.scheduled_time,
                    fire_time: tick.fire_time,
                    payload: tick.payload,
                })
            }
        }
    };
    export_handler(
        &function,
        "schedule",
        "geyser:function/schedule-function",
        handler,
    )
}
