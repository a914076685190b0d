#![doc = include_str!("../REFERENCE.md")]

use proc_macro::TokenStream;
use proc_macro2::{Group, Span, TokenStream as TokenStream2, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Attribute, Data, DeriveInput, Field, Fields, Ident, LitStr, Member, Meta, Path, Token, Type,
    WherePredicate, parse_macro_input, parse_quote_spanned,
};

/// Derives `pygc::Trace`; see the crate documentation.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Accumulates errors so that one compilation reports all of them.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(acc) => acc.combine(err),
            None => self.0 = Some(err),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

const UNION_MSG: &str = "`#[derive(Trace)]` cannot be used on unions: \
     the collector cannot know which field holds a handle";
const PACKED_MSG: &str = "`#[derive(Trace)]` cannot be used on `#[repr(packed)]` types: \
     fields of a packed type cannot be borrowed to be traced";
const FIELD_ATTR_HELP: &str = "the only field attribute is `#[trace(skip)]`";
const CONTAINER_ATTR_HELP: &str = "the only container attribute is `#[trace(crate = \"path\")]`";

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let mut errors = Errors::default();

    if let Data::Union(data) = &input.data {
        let ident = &input.ident;
        let union_token = data.union_token;
        return Err(syn::Error::new_spanned(
            quote!(#union_token #ident),
            UNION_MSG,
        ));
    }

    check_not_packed(&input.attrs, &mut errors);
    let krate = parse_container_attrs(&input.attrs, &mut errors);

    let type_params: Vec<Ident> = input
        .generics
        .type_params()
        .map(|p| p.ident.clone())
        .collect();
    let scope = Scope {
        params: &type_params,
        self_name: &input.ident,
    };

    // Every traced field, in declaration order, across all variants.
    let mut traced: Vec<TracedField<'_>> = Vec::new();

    let body = match &input.data {
        Data::Struct(data) => {
            let mut stmts = Vec::new();
            for (index, field) in data.fields.iter().enumerate() {
                if let Some(tf) = analyze_field(field, &scope, &mut errors) {
                    let member = member(field, index);
                    let place = quote_spanned!(field.ty.span()=> &self.#member);
                    stmts.push(trace_call(&krate, tf.ty, place));
                    traced.push(tf);
                }
            }
            quote!(#(#stmts)*)
        }
        Data::Enum(data) if data.variants.is_empty() => quote!(match *self {}),
        Data::Enum(data) => {
            let mut arms = Vec::new();
            for variant in &data.variants {
                for attr in variant.attrs.iter().filter(|a| a.path().is_ident("trace")) {
                    errors.push(syn::Error::new_spanned(
                        attr,
                        "`#[trace(...)]` is not supported on enum variants; \
                         put `#[trace(skip)]` on individual fields instead",
                    ));
                }
                let name = &variant.ident;
                let mut stmts = Vec::new();
                let mut pats = Vec::new();
                for (index, field) in variant.fields.iter().enumerate() {
                    let tf = analyze_field(field, &scope, &mut errors);
                    let binding = tf
                        .as_ref()
                        .map(|_| format_ident!("__pygc_field_{}", index, span = field.ty.span()));
                    if let (Some(tf), Some(binding)) = (tf, &binding) {
                        stmts.push(trace_call(&krate, tf.ty, binding.to_token_stream()));
                        traced.push(tf);
                    }
                    match (&variant.fields, binding) {
                        (Fields::Named(_), Some(binding)) => {
                            let ident = &field.ident;
                            pats.push(quote!(#ident: #binding));
                        }
                        (Fields::Named(_), None) => {}
                        (_, Some(binding)) => pats.push(binding.to_token_stream()),
                        (_, None) => pats.push(quote!(_)),
                    }
                }
                let pat = match &variant.fields {
                    Fields::Named(_) => quote!(Self::#name { #(#pats,)* .. }),
                    Fields::Unnamed(_) => quote!(Self::#name(#(#pats),*)),
                    Fields::Unit => quote!(Self::#name),
                };
                arms.push(quote!(#pat => { #(#stmts)* }));
            }
            quote!(match self { #(#arms)* })
        }
        Data::Union(_) => unreachable!("unions are rejected above"),
    };

    errors.finish()?;

    // Bounds: field-type bounds for fields mentioning type parameters, and
    // parameter bounds for self-referential ones (see the crate docs).
    let mut generics = input.generics.clone();
    let where_clause = generics.make_where_clause();
    let mut seen: Vec<String> = where_clause
        .predicates
        .iter()
        .map(|p| p.to_token_stream().to_string())
        .collect();
    let mut add_bound = |pred: WherePredicate| {
        let key = pred.to_token_stream().to_string();
        if !seen.contains(&key) {
            seen.push(key);
            where_clause.predicates.push(pred);
        }
    };
    for tf in &traced {
        let ty = tf.ty;
        let krate = respan(&krate, ty.span());
        if tf.self_referential {
            for param in &tf.params {
                add_bound(parse_quote_spanned!(ty.span()=> #param: #krate::Trace));
            }
        } else if !tf.params.is_empty() || tf.opaque {
            add_bound(parse_quote_spanned!(ty.span()=> #ty: #krate::Trace));
        }
    }

    let may_terms: Vec<TokenStream2> = traced
        .iter()
        .map(|tf| {
            let ty = tf.ty;
            let krate = respan(&krate, ty.span());
            if tf.self_referential {
                quote_spanned!(ty.span()=> true)
            } else {
                quote_spanned!(ty.span()=> <#ty as #krate::Trace>::MAY_CONTAIN_HANDLES)
            }
        })
        .collect();
    let may = if may_terms.is_empty() {
        quote!(false)
    } else {
        quote!(#(#may_terms)||*)
    };
    let unused_visitor = if traced.is_empty() {
        quote!(let _ = visitor;)
    } else {
        quote!()
    };

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    // SAFETY (of the generated impl): `trace` reports every non-skipped field exactly once
    // through that field's own `Trace` impl, and nothing else (contract items 1-3); skipped
    // fields are refused when their type names `Gc`/`Weak`, so skipping can only hide handles
    // behind aliases, which leaks but never frees a live object (item 2); `trace` calls only
    // field `trace`s (item 4); and `MAY_CONTAIN_HANDLES` is the OR over the traced fields (5).
    Ok(quote! {
        #[automatically_derived]
        unsafe impl #impl_generics #krate::Trace for #ident #ty_generics #where_clause {
            const MAY_CONTAIN_HANDLES: bool = #may;
            // The type's `Finalize` impl, found without a bound (see `FinalizerProbe`), so
            // that `Heap::alloc` runs it.
            const FINALIZER: ::core::option::Option<#krate::__private::Finalizer> = {
                #[allow(unused_imports)]
                use #krate::__private::NoFinalizer as _;
                #krate::__private::FinalizerProbe::<Self>::FINALIZER
            };
            #[inline]
            fn trace(&self, visitor: &mut #krate::Visitor<'_>) {
                #unused_visitor
                #body
            }
        }
    })
}

/// `Trace::trace(<place>, visitor);`, spanned on the field type so that a
/// missing impl is reported at the field.
fn trace_call(krate: &Path, ty: &Type, place: TokenStream2) -> TokenStream2 {
    let krate = respan(krate, ty.span());
    quote_spanned!(ty.span()=> #krate::Trace::trace(#place, visitor);)
}

/// The crate path with every token moved to `span`, so that a path built
/// from it (`::pygc::Trace`) is attributed to the user's field rather than to
/// the derive invocation in diagnostics. Resolution is unaffected: derive
/// input spans and `Span::call_site()` resolve in the same place.
fn respan(krate: &Path, span: Span) -> TokenStream2 {
    fn go(tokens: TokenStream2, span: Span) -> TokenStream2 {
        tokens
            .into_iter()
            .map(|mut tt| {
                if let TokenTree::Group(group) = &tt {
                    let mut new = Group::new(group.delimiter(), go(group.stream(), span));
                    new.set_span(span);
                    tt = TokenTree::Group(new);
                } else {
                    tt.set_span(span);
                }
                tt
            })
            .collect()
    }
    go(krate.to_token_stream(), span)
}

fn member(field: &Field, index: usize) -> Member {
    match &field.ident {
        Some(ident) => Member::Named(ident.clone()),
        None => Member::Unnamed(syn::Index {
            index: index as u32,
            span: field.ty.span(),
        }),
    }
}

/// The generic type parameters in scope and the name of the type being derived.
struct Scope<'a> {
    params: &'a [Ident],
    self_name: &'a Ident,
}

/// A non-skipped field and what its type mentions.
struct TracedField<'a> {
    ty: &'a Type,
    /// Type parameters mentioned by the type, deduplicated, in order.
    params: Vec<Ident>,
    /// The type mentions `Self` or the derived type's own name.
    self_referential: bool,
    /// The type contains a macro invocation whose expansion we cannot see.
    opaque: bool,
}

/// Parses the field's attributes; `None` if the field is skipped.
fn analyze_field<'a>(
    field: &'a Field,
    scope: &Scope<'_>,
    errors: &mut Errors,
) -> Option<TracedField<'a>> {
    let skip = parse_field_attrs(&field.attrs, errors);
    let mut scan = TypeScan {
        scope,
        params: Vec::new(),
        self_referential: false,
        handle: None,
        opaque: false,
    };
    scan.visit_type(&field.ty);
    if skip {
        if let Some(handle) = scan.handle {
            errors.push(syn::Error::new_spanned(
                &field.ty,
                format!(
                    "`#[trace(skip)]` cannot be used on a field whose type mentions `{handle}`: \
                     skipping it would hide edges from the cycle collector; \
                     remove the `#[trace(skip)]` attribute"
                ),
            ));
        }
        return None;
    }
    Some(TracedField {
        ty: &field.ty,
        params: scan.params,
        self_referential: scan.self_referential,
        opaque: scan.opaque,
    })
}

/// Syntactic scan of a field type.
struct TypeScan<'s> {
    scope: &'s Scope<'s>,
    params: Vec<Ident>,
    self_referential: bool,
    /// `Gc` or `Weak`, whichever was seen first.
    handle: Option<&'static str>,
    opaque: bool,
}

impl<'ast> Visit<'ast> for TypeScan<'_> {
    fn visit_path(&mut self, path: &'ast Path) {
        if path.leading_colon.is_none() {
            if let Some(first) = path.segments.first() {
                if let Some(param) = self.scope.params.iter().find(|p| **p == first.ident) {
                    if !self.params.contains(param) {
                        self.params.push(param.clone());
                    }
                }
            }
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_path_segment(&mut self, segment: &'ast syn::PathSegment) {
        for handle in ["Gc", "Weak"] {
            if self.handle.is_none() && segment.ident == handle {
                self.handle = Some(handle);
            }
        }
        if segment.ident == "Self" || segment.ident == *self.scope.self_name {
            self.self_referential = true;
        }
        syn::visit::visit_path_segment(self, segment);
    }

    fn visit_type_macro(&mut self, mac: &'ast syn::TypeMacro) {
        self.opaque = true;
        syn::visit::visit_type_macro(self, mac);
    }
}

/// Reports `#[repr(packed)]` / `#[repr(packed(N))]`.
fn check_not_packed(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let Ok(reprs) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        else {
            // A malformed repr is rustc's business.
            continue;
        };
        if reprs.iter().any(|m| m.path().is_ident("packed")) {
            errors.push(syn::Error::new_spanned(attr, PACKED_MSG));
        }
    }
}

/// Checks that `attr` is `#[trace(...)]` with arguments; reports it otherwise.
fn require_list(attr: &Attribute, help: &str, errors: &mut Errors) -> bool {
    match &attr.meta {
        Meta::List(_) => true,
        Meta::Path(_) => {
            errors.push(syn::Error::new_spanned(
                attr,
                format!("`#[trace]` needs arguments; {help}"),
            ));
            false
        }
        Meta::NameValue(_) => {
            errors.push(syn::Error::new_spanned(
                attr,
                format!("`#[trace = ...]` is not supported; {help}"),
            ));
            false
        }
    }
}

/// Returns whether the field carries `#[trace(skip)]`.
fn parse_field_attrs(attrs: &[Attribute], errors: &mut Errors) -> bool {
    let mut skip: Option<Span> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        if !require_list(attr, FIELD_ATTR_HELP, errors) {
            continue;
        }
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                    return Err(meta.error("`skip` takes no value: write `#[trace(skip)]`"));
                }
                if skip.is_some() {
                    return Err(meta.error("duplicate `skip`"));
                }
                skip = Some(meta.path.span());
                Ok(())
            } else if meta.path.is_ident("crate") {
                Err(meta.error(
                    "`crate = ...` is a container attribute: put it on the type, not on a field",
                ))
            } else {
                let name = meta.path.to_token_stream().to_string().replace(' ', "");
                Err(meta.error(format!(
                    "unknown field attribute `{name}`; {FIELD_ATTR_HELP}"
                )))
            }
        });
        if let Err(err) = res {
            errors.push(err);
        }
    }
    skip.is_some()
}

/// Returns the path of the pygc crate (`#[trace(crate = "...")]`, default `::pygc`).
fn parse_container_attrs(attrs: &[Attribute], errors: &mut Errors) -> Path {
    let mut krate: Option<Path> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        if !require_list(attr, CONTAINER_ATTR_HELP, errors) {
            continue;
        }
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                let path: Path = lit.parse()?;
                if krate.is_some() {
                    return Err(meta.error("duplicate `crate`"));
                }
                krate = Some(path);
                Ok(())
            } else if meta.path.is_ident("skip") {
                Err(meta.error(
                    "`skip` is a field attribute: put `#[trace(skip)]` on a field, not on the type",
                ))
            } else {
                let name = meta.path.to_token_stream().to_string().replace(' ', "");
                Err(meta.error(format!(
                    "unknown container attribute `{name}`; {CONTAINER_ATTR_HELP}"
                )))
            }
        });
        if let Err(err) = res {
            errors.push(err);
        }
    }
    krate.unwrap_or_else(|| syn::parse_quote!(::pygc))
}

#[cfg(test)]
mod tests {
    use super::expand;
    use syn::parse_quote;

    fn expand_str(input: syn::DeriveInput) -> String {
        expand(&input).expect("derive should succeed").to_string()
    }

    fn error_str(input: syn::DeriveInput) -> String {
        expand(&input).expect_err("derive should fail").to_string()
    }

    #[test]
    fn shape_of_struct_impl() {
        let out = expand_str(parse_quote! {
            struct S<A, B> { x: Vec<A>, #[trace(skip)] y: B, z: u32 }
        });
        assert!(out.contains("unsafe impl < A , B > :: pygc :: Trace for S < A , B >"));
        assert!(out.contains("where Vec < A > : :: pygc :: Trace"));
        assert!(!out.contains("B : :: pygc :: Trace"), "{out}");
        assert!(out.contains(
            "const MAY_CONTAIN_HANDLES : bool = < Vec < A > as :: pygc :: Trace > :: \
             MAY_CONTAIN_HANDLES || < u32 as :: pygc :: Trace > :: MAY_CONTAIN_HANDLES ;"
        ));
        assert!(out.contains(":: pygc :: Trace :: trace (& self . x , visitor) ;"));
        assert!(out.contains(":: pygc :: Trace :: trace (& self . z , visitor) ;"));
        assert!(!out.contains("self . y"));
    }

    #[test]
    fn skipped_and_non_generic_fields_add_no_bounds() {
        let out = expand_str(parse_quote! {
            struct W<T> { #[trace(skip)] t: T, n: Gc<Node> }
        });
        assert!(out.contains("for W < T > {"), "{out}");
    }

    #[test]
    fn existing_where_clause_is_kept_and_bounds_deduplicated() {
        let out = expand_str(parse_quote! {
            struct K<T> where T: Clone { a: Option<T>, b: Option<T>, c: [u8; 4] }
        });
        assert!(
            out.contains("where T : Clone , Option < T > : :: pygc :: Trace {"),
            "{out}"
        );
    }

    #[test]
    fn self_referential_fields_bound_parameters() {
        let out = expand_str(parse_quote! {
            struct List<T> { v: u8, next: Option<Box<List<T>>> }
        });
        assert!(out.contains("where T : :: pygc :: Trace {"), "{out}");
        assert!(out.contains("MAY_CONTAIN_HANDLES || true ;"), "{out}");
    }

    #[test]
    fn crate_path_is_configurable() {
        let out = expand_str(parse_quote! {
            #[trace(crate = "crate")]
            struct S { g: Gc<u8> }
        });
        assert!(out.contains("unsafe impl crate :: Trace for S"), "{out}");
        assert!(!out.contains("pygc"), "{out}");
    }

    #[test]
    fn enums_match_on_the_active_variant() {
        let out = expand_str(parse_quote! {
            enum E { A, B(u8, #[trace(skip)] String), C { x: u8, #[trace(skip)] y: u8 } }
        });
        assert!(out.contains("Self :: A => { }"), "{out}");
        assert!(out.contains("Self :: B (__pygc_field_0 , _) =>"), "{out}");
        assert!(
            out.contains("Self :: C { x : __pygc_field_0 , .. } =>"),
            "{out}"
        );
        let empty = expand_str(parse_quote! { enum Never {} });
        assert!(empty.contains("match * self { }"), "{empty}");
        assert!(
            empty.contains("MAY_CONTAIN_HANDLES : bool = false ;"),
            "{empty}"
        );
    }

    #[test]
    fn refusals() {
        assert!(error_str(parse_quote! { union U { a: u8 } }).contains("cannot be used on unions"));
        assert!(
            error_str(parse_quote! { #[repr(C, packed)] struct P { a: u8 } })
                .contains("`#[repr(packed)]`")
        );
        assert!(
            error_str(parse_quote! { struct S { #[trace(skip)] w: Vec<Weak<u8>> } })
                .contains("mentions `Weak`")
        );
        assert!(
            error_str(parse_quote! { struct S { #[trace(foo)] a: u8 } })
                .contains("unknown field attribute `foo`")
        );
        assert!(
            error_str(parse_quote! { struct S { #[trace(skip = 1)] a: u8 } })
                .contains("`skip` takes no value")
        );
        assert!(
            error_str(parse_quote! { struct S { #[trace] a: u8 } })
                .contains("`#[trace]` needs arguments")
        );
    }
}
